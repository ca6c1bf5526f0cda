-- wrk script: a different token on every request (the JWT cache stays cold).
-- wrk ... -s jwt-cold.lua URL -- TOKENS_FILE FIRST COUNT
local tokens, idx = {}, 0

function init(args)
    local first, count = tonumber(args[2]), tonumber(args[3])
    local i = 0
    for line in io.lines(args[1]) do
        i = i + 1
        if i > first + count then break end
        if i > first then tokens[#tokens + 1] = line end
    end
end

function request()
    idx = idx + 1
    -- past the slice the tokens repeat; bench/jwt.sh refuses such a run
    local t = tokens[(idx - 1) % #tokens + 1]
    return wrk.format("GET", nil, {["Authorization"] = "Bearer " .. t})
end
