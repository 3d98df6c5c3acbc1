/// Every part of the back office, in the order their routes are added. A new section adds
/// its line here (see `BackOffice` for how to write one).
extension BackOffice {
    static var sections: [any AdminSection.Type] {
        [
            AdminDashboardPage.self,
            AdminOrderPages.self,
            AdminStaffPages.self,
            OAuthAppPages.self,
            WebhookPages.self,
            JobPages.self,
            TaxRatePages.self,
            ShippingPages.self,
            DiscountPages.self,
            CatalogProductPages.self,
            CatalogVariantPages.self,
            CatalogCategoryPages.self,
            CatalogTransferPages.self,
            InventoryPages.self,
            CustomersPages.self,
            AuditPages.self,
        ]
    }
}
