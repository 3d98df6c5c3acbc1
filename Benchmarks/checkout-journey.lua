-- wrk script for the checkout benchmark: shoppers' whole journeys, over and over, many
-- connections per wrk thread (Benchmarks/run uses -t2 -c32, or -t1 -c8 for the shoppers beside
-- storefront reads). A journey: make a guest cart, add an item, set the e-mail, the address and
-- the shipping method, then check out with a new Idempotency-Key and the test provider's
-- approving token; six requests per order.
--
-- wrk does not say which connection a response came on, so each request carries an
-- X-Request-ID naming its journey ("bench-<thread>-<n>"), which the server echoes; the response
-- moves that journey on and queues its next request, which goes out on whichever of the
-- thread's connections is free next. A connection with no queued step starts a new journey, so
-- there are about as many journeys in flight as connections. Answers that are not 2xx are
-- printed and end their journey.
local skus = tonumber(os.getenv("BENCH_SKUS") or "100")
local method = os.getenv("BENCH_SHIPPING_METHOD")
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("thread_index", threads)
end

function init(args)
    journeys, queue, first, last, started = {}, {}, 1, 0, 0
end

local function json_headers(key, secret)
    local headers = {["Content-Type"] = "application/json", ["X-Request-ID"] = "bench-" .. key}
    if secret then headers["X-Cart-Token"] = secret end
    return headers
end

request = function()
    local key
    if first <= last then
        key = queue[first]
        queue[first] = nil
        first = first + 1
    else
        started = started + 1
        key = thread_index .. "-" .. started
        journeys[key] = {step = 0, number = started}
    end
    local journey = journeys[key]
    if journey.step == 0 then
        return wrk.format("POST", "/v1/carts", json_headers(key), '{"currency":"EUR"}')
    end
    local headers = json_headers(key, journey.secret)
    local base = "/v1/carts/" .. journey.cart
    if journey.step == 1 then
        local sku = "BENCH-" .. ((journey.number * 31 + thread_index) % skus + 1)
        return wrk.format("POST", base .. "/items", headers, '{"sku":"' .. sku .. '","quantity":1}')
    elseif journey.step == 2 then
        return wrk.format("PUT", base .. "/email", headers, '{"email":"bench@example.com"}')
    elseif journey.step == 3 then
        return wrk.format("PUT", base .. "/shipping-address", headers,
            '{"recipient":"Bench Shopper","line1":"1 Load Street","city":"Berlin","postal_code":"10117","country":"DE"}')
    elseif journey.step == 4 then
        return wrk.format("PUT", base .. "/shipping-method", headers, '{"shipping_method_id":"' .. method .. '"}')
    end
    headers["Idempotency-Key"] = "bench-" .. journey.cart
    return wrk.format("POST", base .. "/checkout", headers, '{"payment":{"provider":"test","token":"tok_visa"}}')
end

response = function(status, headers, body)
    local id = headers["X-Request-ID"] or headers["X-Request-Id"] or headers["x-request-id"] or ""
    local key = id:match("^bench%-(.+)$")
    local journey = key and journeys[key]
    if not journey then return end
    if status >= 300 then
        io.stderr:write("step " .. journey.step .. " answered " .. status .. ": " .. body .. "\n")
        journeys[key] = nil
        return
    end
    if journey.step == 0 then
        -- A new cart has no items and no shipping method, so its only "id" is its own.
        journey.cart = body:match('"id":"([^"]+)"')
        journey.secret = body:match('"secret":"([^"]+)"')
    end
    journey.step = journey.step + 1
    if journey.step == 6 then
        journeys[key] = nil
        return
    end
    last = last + 1
    queue[last] = key
end
