-- wrk script: adds one unit to one of the carts in BENCH_CART_FILE ("id secret" per line), in
-- turn, each cart cycling through the same three products so that carts stay shop-sized
-- (three lines) however long the run.
local skus = tonumber(os.getenv("BENCH_SKUS") or "100")
local carts = {}
for line in io.lines(os.getenv("BENCH_CART_FILE")) do
    local id, secret = line:match("(%S+) (%S+)")
    carts[#carts + 1] = {id, secret}
end
local counter = 0

request = function()
    counter = counter + 1
    local index = counter % #carts
    local cart = carts[index + 1]
    local sku = "BENCH-" .. ((index * 3 + math.floor(counter / #carts) % 3) % skus + 1)
    return wrk.format("POST", "/v1/carts/" .. cart[1] .. "/items", {
        ["Content-Type"] = "application/json", ["X-Cart-Token"] = cart[2],
    }, '{"sku":"' .. sku .. '","quantity":1}')
end
