-- wrk script: what shoppers browse while others check out: the first page of the list, two
-- categories, two searches, the in-stock filter, and the pages of the products being bought
-- (bench-1 … bench-20, whose stock moves with every order; with ten million units each, their
-- stock band does not, so from 67256c5 on a checkout drops none of these pages). A fixed set of
-- pages, so a cache that is only invalidated for what changed answers nearly all of them.
local paths = {
    "/v1/products?limit=20", "/v1/products?category=clothing&limit=20", "/v1/products?category=home&limit=20",
    "/v1/products?q=oak&limit=20", "/v1/products?q=linen&limit=20", "/v1/products?in_stock=true&limit=20",
}
for i = 1, 20 do paths[#paths + 1] = "/v1/products/bench-" .. i end
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("thread_index", threads)
end

function init(args)
    counter = thread_index
end

request = function()
    counter = counter + 1
    return wrk.format("GET", paths[counter % #paths + 1])
end
