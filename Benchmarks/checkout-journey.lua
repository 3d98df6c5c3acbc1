-- wrk script for the checkout benchmark: a shopper's whole journey, over and over. Run it with
-- as many threads as connections (-tN -cN) so that each thread owns one connection and one
-- journey at a time: make a guest cart, add an item, set the e-mail, the address and the
-- shipping method, then check out with a new Idempotency-Key and the test provider's
-- approving token. Six requests per order; any answer that is not 2xx is printed.
local skus = tonumber(os.getenv("BENCH_SKUS") or "100")
local method = os.getenv("BENCH_SHIPPING_METHOD")
local count = 0

function setup(thread)
    count = count + 1
    thread:set("index", count)
end

function init(args)
    step, journeys = 0, 0
end

request = function()
    if step == 0 then
        return wrk.format("POST", "/v1/carts", {["Content-Type"] = "application/json"}, '{"currency":"EUR"}')
    end
    local headers = {["Content-Type"] = "application/json", ["X-Cart-Token"] = secret}
    local base = "/v1/carts/" .. id
    if step == 1 then
        local sku = "BENCH-" .. ((journeys * 31 + index) % skus + 1)
        return wrk.format("POST", base .. "/items", headers, '{"sku":"' .. sku .. '","quantity":1}')
    elseif step == 2 then
        return wrk.format("PUT", base .. "/email", headers, '{"email":"bench@example.com"}')
    elseif step == 3 then
        return wrk.format("PUT", base .. "/shipping-address", headers,
            '{"recipient":"Bench Shopper","line1":"1 Load Street","city":"Berlin","postal_code":"10117","country":"DE"}')
    elseif step == 4 then
        return wrk.format("PUT", base .. "/shipping-method", headers, '{"shipping_method_id":"' .. method .. '"}')
    end
    headers["Idempotency-Key"] = "bench-" .. id
    return wrk.format("POST", base .. "/checkout", headers, '{"payment":{"provider":"test","token":"tok_visa"}}')
end

response = function(status, headers, body)
    if status >= 300 then
        io.stderr:write("step " .. step .. " answered " .. status .. ": " .. body .. "\n")
        step = 0
        return
    end
    if step == 0 then
        -- A new cart has no items and no shipping method, so its only "id" is its own.
        id = body:match('"id":"([^"]+)"')
        secret = body:match('"secret":"([^"]+)"')
    end
    step = (step + 1) % 6
    if step == 0 then journeys = journeys + 1 end
end
