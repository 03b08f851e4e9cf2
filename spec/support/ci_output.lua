-- spec/support/ci_output.lua -- busted output handler for CI logs: the
-- usual plain terminal output, then one closing line
--   N passed, N failed, N skipped
-- (errors, in tests or outside them, count as failed) and exit status 1
-- when anything failed.
return function(options)
  local busted = require "busted"
  local handler = require("busted.outputHandlers.plainTerminal")(options)
  busted.subscribe({ "suite", "end" }, function()
    local failed = handler.failuresCount + handler.errorsCount
    io.write(string.format("\n%d passed, %d failed, %d skipped\n",
                           handler.successesCount, failed,
                           handler.pendingsCount))
    io.flush()
    if failed > 0 then
      busted.subscribe({ "exit" }, function() os.exit(1) end)
    end
    return nil, true
  end)
  return handler
end
