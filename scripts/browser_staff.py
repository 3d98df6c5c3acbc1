"""What scripts/browser-test does on the admins' pages besides orders: a catalog CSV chosen
in the import form's file input, and an API key issued on the staff page whose secret,
shown once, is then used against the API. Every form is sent with the keyboard."""

import os
import tempfile

from selenium.webdriver.common.keys import Keys


def import_file(admin, handle):
    """A one-product CSV uploaded through the file input; the report says it was created."""
    from browser_flow import Misbehaves
    admin.require_signed_in()
    admin.require("/admin/products/import", "import page")
    folder = tempfile.mkdtemp(prefix="emporium-browser-csv-")
    path = os.path.join(folder, "hats.csv")
    with open(path, "w", encoding="utf-8") as file:
        file.write("handle,title,status,sku,price,currency\n")
        file.write(f"{handle},Browser test hat,active,{handle.upper()}-1,19.90,EUR\n")
    admin.browser.visit("/admin/products/import", "import form")
    form = admin.form(r"/admin/products/import$", "import")
    if form.get_attribute("enctype") != "multipart/form-data":
        raise Misbehaves(f"the import form is sent as {form.get_attribute('enctype')}, so a file would not be")
    form.find_element("css selector", "input[type=file]").send_keys(path)
    admin.submit(form, {}, "import a CSV file")
    report = admin.browser.text()
    if "1 products created" not in report:
        raise Misbehaves(f"the import's report does not say one product was created: {report[:300]!r}")
    if admin.api.product_by_handle(handle) is None:
        raise Misbehaves(f"the report said created, but the API has no product {handle}")


def issue_key(admin):
    """A key with catalog:read from the staff page's form; answers the secret the page shows."""
    from browser_flow import Misbehaves
    admin.require_signed_in()
    admin.require("/admin/staff", "staff page")
    admin.browser.visit("/admin/staff", "staff and keys")
    form = admin.form(r"/admin/api-keys$", "issue-key")
    box = form.find_element("css selector", "input[name='scope_catalog_read']")
    if not box.is_selected():
        box.send_keys(Keys.SPACE)
    admin.submit(form, {"name": "Browser test feed"}, "issue an API key", enter_in="name")
    secret = admin.browser.find("#api-key-secret").get_attribute("value") or ""
    if not secret.startswith("emp_"):
        raise Misbehaves(f"the page after issuing a key shows no secret (got {secret[:8]!r})")
    admin.browser.visit("/admin/staff", "staff and keys after issuing")
    if secret in admin.browser.driver.page_source:
        raise Misbehaves("the staff page shows a key's secret again")
    return secret


def revoke_key(admin, name):
    """The key called `name` revoked from its row's form, after ticking its confirmation."""
    from browser_flow import Misbehaves
    admin.browser.visit("/admin/staff", "staff and keys, to revoke")
    for row in admin.browser.find_all("main table tr"):
        if name in row.text:
            forms = row.find_elements("css selector", "form")
            if not forms:
                raise Misbehaves(f"the live key {name!r} has no revoke form: {row.text!r}")
            admin.submit(forms[0], {}, "revoke the API key")
            if f"The key {name}" not in admin.browser.text():
                raise Misbehaves("the staff page does not say the key was revoked")
            return
    raise Misbehaves(f"no row for the key {name!r} on the staff page")
