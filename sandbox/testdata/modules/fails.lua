error("fails on purpose")
