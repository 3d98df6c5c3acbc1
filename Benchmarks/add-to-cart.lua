-- wrk script: adds one unit to one of the carts in BENCH_CART_FILE ("id secret" per line), in
-- turn, each cart cycling through the same three products so that carts stay shop-sized
-- (three lines) however long the run. Each wrk thread takes its own share of the carts
-- (thread i of n the carts i, i + n, …), so two threads never change one cart.
local skus = tonumber(os.getenv("BENCH_SKUS") or "100")
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("thread_index", threads)
end

function init(args)
    local count = tonumber(os.getenv("BENCH_THREADS") or "1")
    carts = {}
    local index = 0
    for line in io.lines(os.getenv("BENCH_CART_FILE")) do
        if index % count == (thread_index - 1) % count then
            local id, secret = line:match("(%S+) (%S+)")
            carts[#carts + 1] = {id, secret, index}
        end
        index = index + 1
    end
    counter = 0
end

request = function()
    counter = counter + 1
    local slot = counter % #carts
    local cart = carts[slot + 1]
    local sku = "BENCH-" .. ((cart[3] * 3 + math.floor(counter / #carts) % 3) % skus + 1)
    return wrk.format("POST", "/v1/carts/" .. cart[1] .. "/items", {
        ["Content-Type"] = "application/json", ["X-Cart-Token"] = cart[2],
    }, '{"sku":"' .. sku .. '","quantity":1}')
end
