-- wrk script: each request asks for a different product detail page (handles of the demo
-- catalog, `emporium seed`), so most answers miss the in-process cache and read the database.
-- Threads interleave (thread i of n asks for products i, i + n, … of one permutation), so no
-- two threads ask for the same page in one pass.
local count = tonumber(os.getenv("BENCH_PRODUCTS") or "10000")
local adjectives = {"classic", "sturdy", "light", "soft", "bold", "quiet", "bright", "rugged", "slim", "warm"}
local materials = {"linen", "wool", "cotton", "oak", "steel", "leather", "ceramic", "bamboo", "denim", "glass"}
local nouns = {"shirt", "sweater", "trouser", "jacket", "mug", "lamp", "chair", "table", "tent", "bottle",
               "backpack", "boot", "notebook", "pen", "desk", "bag", "knife", "pan", "bowl", "board"}
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("thread_index", threads)
end

function init(args)
    thread_count = tonumber(os.getenv("BENCH_THREADS") or "1")
    -- BENCH_START: go on where an earlier run stopped (its request count), so that a page it
    -- left in a cache is not asked for again at once (Benchmarks/cluster runs one after another).
    counter = math.floor(tonumber(os.getenv("BENCH_START") or "0") / thread_count)
end

request = function()
    counter = counter + 1
    local index = ((counter * thread_count + thread_index) * 7919) % count
    local handle = adjectives[index % 10 + 1] .. "-" .. materials[math.floor(index / 10) % 10 + 1] .. "-"
        .. nouns[index % 20 + 1] .. "-" .. (index + 1)
    return wrk.format("GET", "/v1/products/" .. handle)
end
