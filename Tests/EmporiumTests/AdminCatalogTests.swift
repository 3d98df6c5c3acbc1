import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

extension AdminTestBrowser {
    /// Opens `page` (for its form token, as a person would) and posts `fields` to `uri`;
    /// `csrf` replaces the page's token (a forged form).
    @discardableResult
    func submit(_ uri: String, _ fields: [String: String], from page: String? = nil, csrf: String? = nil) async throws -> TestResponse {
        let pairs = fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if let csrf { return try await post(uri, pairs, csrf: .some(csrf)) }
        try await get(page ?? "/admin/products")
        return try await post(uri, pairs)
    }

    /// Follows a 303 and returns the page it leads to.
    func follow(_ response: TestResponse) async throws -> TestResponse {
        guard response.status == .seeOther, let location = response.headers[.location] else {
            throw TestFailure("expected a redirect, got \(response.status): \(response.text)")
        }
        return try await get(location)
    }
}

extension TestApp {
    /// The audit log's entries of `action`, oldest first.
    func audited(_ action: String) async throws -> [(actorID: String?, target: String?)] {
        try await database.query("SELECT actor_id, target FROM audit_log WHERE action = \(action) ORDER BY chain_sequence").map {
            (try $0.decode("actor_id"), try $0.decode("target"))
        }
    }
}

@Suite struct AdminCatalogTests {
    @Test func staffListSearchAndFilterProducts() async throws {
        try await withApp { app in
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let api = try await app.signIn("api-staff@example.com", as: .admin)
            let category = try await app.send(.post, "/v1/admin/categories", token: api, json: #"{"slug":"shirts","name":"Shirts"}"#)
            let categoryID = try #require(try category.jsonObject()["id"] as? String)
            try await app.createProduct(TestApp.product(handle: "linen-shirt", title: "Linen shirt", category: categoryID), token: api)
            try await app.createProduct(TestApp.product(handle: "wool-sweater", title: "Wool sweater", status: "draft"), token: api)

            let all = try await staff.get("/admin/products")
            #expect(all.status == .ok)
            #expect(all.headers[.contentType] == "text/html; charset=utf-8")
            #expect(all.text.contains("Linen shirt") && all.text.contains("Wool sweater"))
            let searched = try await staff.get("/admin/products?q=swea")
            #expect(searched.text.contains("Wool sweater") && !searched.text.contains("Linen shirt"))
            let drafts = try await staff.get("/admin/products?status=draft")
            #expect(drafts.text.contains("Wool sweater") && !drafts.text.contains("Linen shirt"))
            let inCategory = try await staff.get("/admin/products?category=\(categoryID)")
            #expect(inCategory.text.contains("Linen shirt") && !inCategory.text.contains("Wool sweater"))
            let bad = try await staff.get("/admin/products?status=sold")
            #expect(bad.status == .badRequest)

            // Pages follow the API's cursors.
            let first = try await staff.get("/admin/products?limit=1")
            let next = try #require(first.text.range(of: "href=\"/admin/products?cursor=").map { range in
                String(first.text[range.lowerBound...].dropFirst(6).prefix { $0 != "\"" })
            })
            let second = try await staff.get(next.replacingOccurrences(of: "&amp;", with: "&") + "&limit=1")
            #expect(second.status == .ok)
            #expect(first.text.contains("Wool sweater") && second.text.contains("Linen shirt"))
        }
    }

    @Test func staffCreateAndEditAProductThroughTheService() async throws {
        try await withApp { app in
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let api = try await app.signIn("api-staff@example.com", as: .admin)
            let created = try await staff.submit(
                "/admin/products",
                ["handle": "linen-shirt", "title": "Linen shirt", "status": "draft", "options": "Size, Colour", "tags": "summer",
                 "category_id": "", "description": "Cool."],
                from: "/admin/products/new")
            #expect(created.status == .seeOther)
            let location = try #require(created.headers[.location])
            let page = try await staff.follow(created)
            #expect(page.text.contains("Product Linen shirt created."))
            #expect(page.text.contains("value=\"Size, Colour\""))
            let id = String(location.dropFirst("/admin/products/".count))
            #expect(try await app.audited("product.created").first?.target == id)

            // Invalid input: the form again with the service's messages, nothing saved.
            let invalid = try await staff.submit(
                "/admin/products/\(id)", ["handle": "Not A Handle", "title": "Linen shirt", "status": "draft", "version": "1"],
                from: location)
            #expect(invalid.status == .unprocessableContent)
            #expect(invalid.text.contains("must be 1 to 100 lower-case letters"))
            #expect(invalid.text.contains("value=\"Not A Handle\""))
            let saved = try await staff.submit(
                "/admin/products/\(id)",
                ["handle": "linen-shirt", "title": "Linen shirt, blue", "status": "active", "options": "Size, Colour", "version": "1"],
                from: location)
            #expect(saved.status == .seeOther)
            let json = try await app.send(.get, "/v1/admin/products/\(id)", token: api).jsonObject()
            #expect(json["title"] as? String == "Linen shirt, blue" && json["status"] as? String == "active")
            #expect((json["tags"] as? [String])?.isEmpty == true)
            #expect(try await app.audited("product.updated").count == 1)
        }
    }

    @Test func aStaleEditSaysSoAndShowsTheSavedValues() async throws {
        try await withApp { app in
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let api = try await app.signIn("api-staff@example.com", as: .admin)
            let product = try await app.createProduct(TestApp.product(handle: "linen-shirt", title: "Linen shirt"), token: api)
            let id = try #require(product["id"] as? String)
            // Someone else renames it after this member's form was rendered at version 1.
            let other = try await app.send(.patch, "/v1/admin/products/\(id)", token: api, json: #"{"title":"Renamed elsewhere"}"#)
            #expect(other.status == .ok)
            let stale = try await staff.submit(
                "/admin/products/\(id)", ["handle": "linen-shirt", "title": "My title", "status": "active", "version": "1"],
                from: "/admin/products/\(id)")
            #expect(stale.status == .conflict)
            #expect(stale.text.contains("Someone else saved this product"))
            #expect(stale.text.contains("value=\"Renamed elsewhere\""))
            #expect(stale.text.contains("My title"))  // what the member tried, shown beside
            #expect(stale.text.contains("name=\"version\" value=\"2\""))
            let json = try await app.send(.get, "/v1/admin/products/\(id)", token: api).jsonObject()
            #expect(json["title"] as? String == "Renamed elsewhere")
        }
    }

    @Test func scriptInATitleComesOutEscaped() async throws {
        try await withApp { app in
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let title = "<script>alert(1)</script>"
            let created = try await staff.submit(
                "/admin/products", ["handle": "evil", "title": title, "status": "active", "tags": "<b>bold</b>"],
                from: "/admin/products/new")
            #expect(created.status == .seeOther)
            for page in ["/admin/products", created.headers[.location] ?? "", "/admin/products/import"] {
                let response = try await staff.get(page)
                #expect(!response.text.contains("<script>"), "\(page)")
                #expect(!response.text.contains("<b>bold"), "\(page)")
            }
            let list = try await staff.get("/admin/products")
            #expect(list.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        }
    }

    @Test func variantsAndTheirPricesAreEditedOnTheProductsPages() async throws {
        try await withApp { app in
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let api = try await app.signIn("api-staff@example.com", as: .admin)
            let product = try await app.createProduct(TestApp.product(handle: "linen-shirt"), token: api)
            let id = try #require(product["id"] as? String)
            let added = try await staff.submit(
                "/admin/products/\(id)/variants",
                ["sku": "LINEN-L", "option_value_0": "L", "version": "1", "price_currency_0": "EUR", "price_amount_0": "12.50",
                 "price_currency_1": "usd", "price_amount_1": "14", "weight_grams": "300", "backorder": "deny"],
                from: "/admin/products/\(id)/variants/new")
            #expect(added.status == .seeOther, "\(added.text)")
            var json = try await app.send(.get, "/v1/admin/products/\(id)", token: api).jsonObject()
            let variants = try #require(json["variants"] as? [[String: Any]])
            let large = try #require(variants.first { $0["sku"] as? String == "LINEN-L" })
            let prices = (large["prices"] as? [[String: Any]] ?? []).map { "\($0["currency"]!)=\($0["amount"]!)" }.sorted()
            #expect(prices == ["EUR=1250", "USD=1400"])
            let variantID = try #require(large["id"] as? String)
            #expect(try await app.audited("variant.created").count == 1)

            // A price that is not an amount: the form again, nothing saved.
            let bad = try await staff.submit(
                "/admin/products/\(id)/variants/\(variantID)",
                ["sku": "LINEN-L", "option_value_0": "L", "version": "2", "price_currency_0": "EUR", "price_amount_0": "12,50"],
                from: "/admin/products/\(id)/variants/\(variantID)")
            #expect(bad.status == .unprocessableContent)
            #expect(bad.text.contains("must be an amount such as 12.50"))
            // An emptied amount removes that price.
            let changed = try await staff.submit(
                "/admin/products/\(id)/variants/\(variantID)",
                ["sku": "LINEN-L", "option_value_0": "L", "version": "2", "price_currency_0": "EUR", "price_amount_0": "13",
                 "price_currency_1": "USD", "price_amount_1": ""],
                from: "/admin/products/\(id)/variants/\(variantID)")
            #expect(changed.status == .seeOther, "\(changed.text)")
            json = try await app.send(.get, "/v1/admin/products/\(id)", token: api).jsonObject()
            let after = try #require((json["variants"] as? [[String: Any]])?.first { $0["id"] as? String == variantID })
            #expect((after["prices"] as? [[String: Any]])?.count == 1)

            // Deleting asks first.
            let unconfirmed = try await staff.submit(
                "/admin/products/\(id)/variants/\(variantID)/delete", ["version": "3"], from: "/admin/products/\(id)/variants/\(variantID)")
            #expect(unconfirmed.status == .seeOther)
            #expect(try await staff.follow(unconfirmed).text.contains("Tick the box to confirm"))
            let deleted = try await staff.submit(
                "/admin/products/\(id)/variants/\(variantID)/delete", ["version": "3", "confirm": "yes"],
                from: "/admin/products/\(id)/variants/\(variantID)")
            #expect(deleted.status == .seeOther)
            json = try await app.send(.get, "/v1/admin/products/\(id)", token: api).jsonObject()
            #expect((json["variants"] as? [[String: Any]])?.count == 1)
            #expect(try await app.audited("variant.deleted").count == 1)
        }
    }

    @Test func archivingAsksForConfirmation() async throws {
        try await withApp { app in
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let api = try await app.signIn("api-staff@example.com", as: .admin)
            let product = try await app.createProduct(TestApp.product(handle: "linen-shirt"), token: api)
            let id = try #require(product["id"] as? String)
            let confirm = try await staff.get("/admin/products/\(id)/archive")
            #expect(confirm.status == .ok && confirm.text.contains("name=\"confirm\""))
            let unticked = try await staff.submit("/admin/products/\(id)/archive", ["version": "1"], from: "/admin/products/\(id)/archive")
            #expect(unticked.headers[.location] == "/admin/products/\(id)/archive")
            #expect(try await app.send(.get, "/v1/admin/products/\(id)", token: api).jsonObject()["status"] as? String == "active")
            let archived = try await staff.submit(
                "/admin/products/\(id)/archive", ["version": "1", "confirm": "yes"], from: "/admin/products/\(id)/archive")
            #expect(archived.headers[.location] == "/admin/products/\(id)")
            #expect(try await app.send(.get, "/v1/admin/products/\(id)", token: api).jsonObject()["status"] as? String == "archived")
        }
    }

    @Test func formsWithoutTheSessionsTokenChangeNothing() async throws {
        try await withApp { app in
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let api = try await app.signIn("api-staff@example.com", as: .admin)
            let product = try await app.createProduct(TestApp.product(handle: "linen-shirt"), token: api)
            let id = try #require(product["id"] as? String)
            for (uri, fields) in [
                ("/admin/products", ["handle": "forged", "title": "Forged"]),
                ("/admin/products/\(id)", ["handle": "linen-shirt", "title": "Forged", "version": "1"]),
                ("/admin/products/\(id)/archive", ["version": "1", "confirm": "yes"]),
                ("/admin/categories", ["slug": "forged", "name": "Forged"]),
                ("/admin/products/import", ["csv": "handle,sku\nforged,FORGED-1\n"]),
            ] {
                let refused = try await staff.submit(uri, fields, csrf: "forged")
                #expect(refused.status == .forbidden, "\(uri)")
            }
            let json = try await app.send(.get, "/v1/admin/products/\(id)", token: api).jsonObject()
            #expect(json["title"] as? String == "linen-shirt" && json["status"] as? String == "active")
            let products = try await app.send(.get, "/v1/admin/products", token: api).jsonObject()
            #expect((products["data"] as? [Any])?.count == 1)
            #expect(try await app.audited("admin.csrf_refused").count == 5)
        }
    }

    @Test func categoriesAreListedCreatedAndEdited() async throws {
        try await withApp { app in
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let api = try await app.signIn("api-staff@example.com", as: .admin)
            let created = try await staff.submit(
                "/admin/categories", ["slug": "clothing", "name": "Clothing", "parent_id": "", "position": "0"], from: "/admin/categories/new")
            #expect(created.status == .seeOther)
            let list = try await staff.follow(created)
            #expect(list.text.contains("Category Clothing created."))
            let categories = try await app.send(.get, "/v1/admin/categories", token: api).jsonObject()
            let id = try #require((categories["data"] as? [[String: Any]])?.first?["id"] as? String)
            let child = try await staff.submit(
                "/admin/categories", ["slug": "shirts", "name": "Shirts", "parent_id": id, "position": "x"], from: "/admin/categories/new")
            #expect(child.status == .unprocessableContent && child.text.contains("must be a whole number"))
            let taken = try await staff.submit(
                "/admin/categories", ["slug": "clothing", "name": "Again", "position": "1"], from: "/admin/categories/new")
            #expect(taken.status == .unprocessableContent && taken.text.contains("Another category has this slug."))
            _ = try await staff.submit(
                "/admin/categories", ["slug": "shirts", "name": "Shirts", "parent_id": id, "position": "1"], from: "/admin/categories/new")
            let tree = try await staff.get("/admin/categories")
            #expect(tree.text.contains("Clothing › Shirts"))
            let renamed = try await staff.submit(
                "/admin/categories/\(id)", ["slug": "clothing", "name": "Clothes", "parent_id": "", "position": "0", "version": "1"],
                from: "/admin/categories/\(id)")
            #expect(renamed.status == .seeOther)
            let stale = try await staff.submit(
                "/admin/categories/\(id)", ["slug": "clothing", "name": "Garments", "position": "0", "version": "1"],
                from: "/admin/categories/\(id)")
            #expect(stale.status == .conflict && stale.text.contains("value=\"Clothes\""))
            #expect(try await app.audited("category.created").count == 2)
            #expect(try await app.audited("category.updated").count == 1)
        }
    }

    @Test func aCSVWithBrokenRowsImportsTheGoodOnesAndListsEachBrokenOne() async throws {
        try await withApp { app in
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let api = try await app.signIn("api-staff@example.com", as: .admin)
            let csv = """
                handle,title,status,option1_name,option1_value,sku,price,currency,quantity
                linen-shirt,Linen shirt,active,Size,M,LINEN-M,12.50,EUR,5
                linen-shirt,Linen shirt,active,Size,L,LINEN-L,12.50,EUR,
                Bad Handle,Broken,active,Size,M,BROKEN-M,1.00,EUR,
                wool-hat,Wool hat,active,Size,One,HAT-1,ten,EUR,
                cap,Cap <i>x</i>,active,,,CAP-1,3.00,EUR,

                """
            let imported = try await staff.submit("/admin/products/import", ["csv": csv], from: "/admin/products/import")
            #expect(imported.status == .unprocessableContent)
            #expect(imported.text.contains("2 products created"))
            #expect(imported.text.contains("<td class=\"num\">4</td>") && imported.text.contains("handle must be 1 to 100"))
            #expect(imported.text.contains("<td class=\"num\">5</td>") && imported.text.contains("price must be an amount"))
            #expect(!imported.text.contains("<i>x"))
            let products = try await app.send(.get, "/v1/admin/products", token: api).jsonObject()
            let handles = (products["data"] as? [[String: Any]])?.compactMap { $0["handle"] as? String }.sorted()
            #expect(handles == ["cap", "linen-shirt"])
            let audits = try await app.audited("product.imported")
            #expect(audits.count == 2 && audits.allSatisfy { $0.actorID != nil })

            // A file without the required columns imports nothing.
            let unusable = try await staff.submit("/admin/products/import", ["csv": "name,price\nx,1\n"], from: "/admin/products/import")
            #expect(unusable.status == .unprocessableContent && unusable.text.contains("Nothing was imported"))

            // A file chosen in the form (multipart) wins over the text box; a broken body is a 400.
            _ = try await staff.get("/admin/products/import")
            let uploaded = try await staff.postMultipart(
                "/admin/products/import", [("csv", "")],
                files: [("csv_file", "hats.csv", "handle,title,status,sku,price,currency\nfelt-hat,Felt hat,active,FELT-1,20.00,EUR\n")])
            #expect(uploaded.status == .ok && uploaded.text.contains("1 products created"), "\(uploaded.text)")
            let broken = try await staff.postMultipart("/admin/products/import", [])
            #expect(broken.status == .ok || broken.status == .unprocessableContent)
            let truncated = try await app.http.execute(
                uri: "/admin/products/import", method: .post,
                headers: [.contentType: "multipart/form-data; boundary=xyz", .cookie: staff.cookieHeader],
                body: ByteBuffer(string: "--xyz\r\nContent-Disposition: form-data; name=\"csv\"\r\n\r\nhandle"))
            #expect(truncated.status == .badRequest && truncated.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(truncated.headers[.contentSecurityPolicy]?.hasPrefix("default-src 'none'; style-src 'self'") == true)
            // A file in another encoding is refused, not imported with its letters replaced.
            var latin1 = ByteBuffer(string: "--xyz\r\nContent-Disposition: form-data; name=\"csv_file\"; filename=\"a.csv\"\r\n\r\nhandle,title\ncafe,Caf")
            latin1.writeInteger(UInt8(0xE9))
            latin1.writeString("\r\n--xyz--\r\n")
            let refused = try await app.http.execute(
                uri: "/admin/products/import", method: .post,
                headers: [.contentType: "multipart/form-data; boundary=xyz", .cookie: staff.cookieHeader], body: latin1)
            #expect(refused.status == .badRequest && String(buffer: refused.body).contains("not UTF-8"))
            let after = try await app.send(.get, "/v1/admin/products", token: api).jsonObject()
            #expect((after["data"] as? [[String: Any]])?.count == 3)

            // The export downloads what an import reads back.
            let export = try await staff.get("/admin/products/export")
            #expect(export.status == .ok && export.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(export.headers[.contentDisposition]?.contains("attachment") == true)
            #expect(export.text.hasPrefix("handle,title,description"))
            #expect(export.text.contains("LINEN-L"))
        }
    }

    @Test func aMultipartBoundaryWithASemicolonIsRefused() async throws {
        try await withApp { app in
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let api = try await app.signIn("api-staff@example.com", as: .admin)
            _ = try await staff.get("/admin/products/import")
            let token = try #require(staff.csrfToken)
            // `;` is no boundary character (RFC 2046 §5.1.1) but what separates the type's
            // parameters: the boundary read is "a", and the body, a good form delimited by "--a;b",
            // is not well-formed with it, quoted or not.
            let csv = "handle,title,status,sku,price,currency\nfelt-hat,Felt hat,active,FELT-1,20.00,EUR\n"
            var body = ""
            for (name, value) in [("csrf_token", token), ("csv", csv)] {
                body += "--a;b\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
            }
            body += "--a;b--\r\n"
            for contentType in ["multipart/form-data; boundary=\"a;b\"", "multipart/form-data; boundary=a;b"] {
                let refused = try await app.http.execute(
                    uri: "/admin/products/import", method: .post,
                    headers: [.contentType: contentType, .cookie: staff.cookieHeader], body: ByteBuffer(string: body))
                #expect(refused.status == .badRequest && refused.headers[.contentType]?.hasPrefix("text/html") == true, "\(contentType)")
                #expect(String(buffer: refused.body).contains("not well-formed multipart/form-data"), "\(contentType)")
            }
            let products = try await app.send(.get, "/v1/admin/products", token: api).jsonObject()
            #expect((products["data"] as? [[String: Any]])?.isEmpty == true)
            #expect(try await app.audited("product.imported").isEmpty)
        }
    }
}
