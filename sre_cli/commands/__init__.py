"""One module per ``aqua`` command group; each stays thin and calls its engine."""
