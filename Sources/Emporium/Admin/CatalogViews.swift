import EmporiumCore
import Foundation

/// What the catalog pages hand their templates: rows, select options and links, as the plain
/// dictionaries Mustache reads. Every value is text that the template escapes.
enum CatalogViews {
    /// `path?name=value&…` with the empty values left out, each value percent-encoded: the
    /// next-page link that keeps a list's filters.
    static func link(_ path: String, _ parameters: [(String, String?)]) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let query = parameters.compactMap { name, value -> String? in
            guard let value, !value.isEmpty else { return nil }
            return name + "=" + (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")
        }
        return query.isEmpty ? path : path + "?" + query.joined(separator: "&")
    }

    /// `<option>`s: value, label and whether it is the one chosen.
    static func options(_ choices: [(value: String, label: String)], selected: String?) -> [[String: Any]] {
        choices.map { ["value": $0.value, "label": $0.label, "selected": $0.value == selected] }
    }

    static func statusOptions(selected: String?, any: Bool) -> [[String: Any]] {
        let choices = (any ? [("", "Any status")] : []) + Product.Status.allCases.map { ($0.rawValue, $0.rawValue.capitalized) }
        return options(choices.map { (value: $0.0, label: $0.1) }, selected: selected)
    }

    /// Categories as a flat list in tree order, each name preceded by its ancestors'
    /// (`Clothing › Shirts`), for selects and the category list.
    static func categoryChoices(_ tree: CategoryTree) -> [(category: Category, label: String, depth: Int)] {
        var result: [(category: Category, label: String, depth: Int)] = []
        func walk(_ parent: ID<Category>?, _ prefix: String, _ depth: Int) {
            for category in tree.children(of: parent) where result.count <= tree.categories.count {
                let label = prefix.isEmpty ? category.name : prefix + " › " + category.name
                result.append((category: category, label: label, depth: depth))
                walk(category.id, label, depth + 1)
            }
        }
        walk(nil, "", 0)
        return result
    }

    static func categoryOptions(_ tree: CategoryTree, selected: String?, none: String) -> [[String: Any]] {
        options([(value: "", label: none)] + categoryChoices(tree).map { (value: $0.category.id.description, label: $0.label) },
                selected: selected ?? "")
    }

    /// "12.50 EUR" for each currency, in code order.
    static func prices(_ prices: [String: Int64]) -> String {
        prices.sorted { $0.key < $1.key }.map { code, amount in
            Currency(code: code).map { Money(minorUnits: amount, currency: $0).description } ?? "\(amount) \(code)"
        }.joined(separator: ", ")
    }

    /// Each field's value and error for a form template: `fields.title.value`, `fields.title.error`.
    static func fields(_ values: CatalogForms.Fields, errors: CatalogForms.Errors, names: [String]) -> [String: Any] {
        var result: [String: Any] = [:]
        for name in Set(names).union(values.keys) {
            var field: [String: Any] = ["value": values[name] ?? ""]
            if let error = errors.fields[name] { field["error"] = error }
            result[name] = field
        }
        return result
    }

    static func time(_ date: Date) -> String { Timestamp.string(from: date) }
}
