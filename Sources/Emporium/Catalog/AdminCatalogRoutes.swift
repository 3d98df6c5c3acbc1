import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/admin/products` (with variants) and `/v1/admin/categories`: staff, or API keys with
/// `catalog:read` / `catalog:write`. Writes honour `If-Match` and answer the new `ETag`.
struct AdminCatalogRoutes {
    let service: CatalogService

    private var database: any Database { service.database }
    private var store: CatalogStore { service.store }

    func register(on routes: RouteRegistrar) {
        routes.on(.get, "/v1/admin/products", access: .staff, orScope: .catalogRead) { request, _ in
            let page = try PageRequest(request)
            var status: Product.Status?
            if let text = request.uri.queryParameters["status"] {
                guard let value = Product.Status(rawValue: String(text)) else {
                    throw Problem.validation([.init(parameter: "status", detail: "must be draft, active or archived")])
                }
                status = value
            }
            let products = try await store.products(status: status, after: page.after, limit: page.limit + 1, on: database)
            return Page(products.map(ProductResponse.admin), limit: page.limit, id: \.id)
        }

        routes.on(.post, "/v1/admin/products", access: .staff, orScope: .catalogWrite) { request, context in
            let input = try await request.decodeStrictJSON(as: ProductInput.self, context: context.base).value
            let product = try await service.createProduct(input, by: context.author)
            return VersionedResponse(status: .created, body: ProductResponse.admin(product), version: product.version)
        }

        routes.on(.get, "/v1/admin/products/:id", access: .staff, orScope: .catalogRead) { _, context in
            let id: ID<Product> = try context.base.pathID(notFound: "There is no product with this id.")
            guard let product = try await store.product(idOrHandle: id.description, on: database) else {
                throw Problem.notFound("There is no product with this id.")
            }
            return VersionedResponse(status: .ok, body: ProductResponse.admin(product), version: product.version)
        }

        routes.on(.patch, "/v1/admin/products/:id", access: .staff, orScope: .catalogWrite) { request, context in
            let id: ID<Product> = try context.base.pathID(notFound: "There is no product with this id.")
            let body = try await request.decodeStrictJSON(as: ProductInput.self, context: context.base)
            let product = try await service.updateProduct(id, with: body, expecting: ETag.precondition(request), by: context.author)
            return VersionedResponse(status: .ok, body: ProductResponse.admin(product), version: product.version)
        }

        routes.on(.delete, "/v1/admin/products/:id", access: .staff, orScope: .catalogWrite) { request, context in
            let id: ID<Product> = try context.base.pathID(notFound: "There is no product with this id.")
            try await service.deleteProduct(id, expecting: ETag.precondition(request), by: context.author)
            return HTTPResponse.Status.noContent
        }

        routes.on(.post, "/v1/admin/products/:id/variants", access: .staff, orScope: .catalogWrite) { request, context in
            let id: ID<Product> = try context.base.pathID(notFound: "There is no product with this id.")
            let input = try await request.decodeStrictJSON(as: VariantInput.self, context: context.base).value
            let product = try await service.addVariant(to: id, input, expecting: ETag.precondition(request), by: context.author)
            return VersionedResponse(status: .created, body: ProductResponse.admin(product), version: product.version)
        }

        routes.on(.patch, "/v1/admin/products/:id/variants/:variant_id", access: .staff, orScope: .catalogWrite) { request, context in
            let id: ID<Product> = try context.base.pathID(notFound: "There is no product with this id.")
            let variantID: ID<Variant> = try context.base.pathID("variant_id", notFound: "The product has no variant with this id.")
            let body = try await request.decodeStrictJSON(as: VariantInput.self, context: context.base)
            let product = try await service.updateVariant(
                variantID, of: id, with: body, expecting: ETag.precondition(request), by: context.author)
            return VersionedResponse(status: .ok, body: ProductResponse.admin(product), version: product.version)
        }

        routes.on(.delete, "/v1/admin/products/:id/variants/:variant_id", access: .staff, orScope: .catalogWrite) { request, context in
            let id: ID<Product> = try context.base.pathID(notFound: "There is no product with this id.")
            let variantID: ID<Variant> = try context.base.pathID("variant_id", notFound: "The product has no variant with this id.")
            let product = try await service.deleteVariant(variantID, of: id, expecting: ETag.precondition(request), by: context.author)
            return VersionedResponse(status: .ok, body: ProductResponse.admin(product), version: product.version)
        }

        routes.on(.get, "/v1/admin/categories", access: .staff, orScope: .catalogRead) { _, _ in
            let categories = try await store.categories(on: database)
            return Page(categories.map { CategoryResponse($0) }, limit: Int.max, id: \.id)
        }

        routes.on(.post, "/v1/admin/categories", access: .staff, orScope: .catalogWrite) { request, context in
            let input = try await request.decodeStrictJSON(as: CategoryInput.self, context: context.base).value
            let category = try await service.createCategory(input, by: context.author)
            return VersionedResponse(status: .created, body: CategoryResponse(category), version: category.version)
        }

        routes.on(.patch, "/v1/admin/categories/:id", access: .staff, orScope: .catalogWrite) { request, context in
            let id: ID<Category> = try context.base.pathID(notFound: "There is no category with this id.")
            let body = try await request.decodeStrictJSON(as: CategoryInput.self, context: context.base)
            let category = try await service.updateCategory(id, with: body, expecting: ETag.precondition(request), by: context.author)
            return VersionedResponse(status: .ok, body: CategoryResponse(category), version: category.version)
        }

        routes.on(.delete, "/v1/admin/categories/:id", access: .staff, orScope: .catalogWrite) { request, context in
            let id: ID<Category> = try context.base.pathID(notFound: "There is no category with this id.")
            try await service.deleteCategory(id, expecting: ETag.precondition(request), by: context.author)
            return HTTPResponse.Status.noContent
        }
    }
}

extension PrincipalContext {
    var author: CatalogService.Author { .init(actor: actor, origin: origin) }
}
