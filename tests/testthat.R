# Set STCROSS_REQUIRE_PYTHON=true to turn "Python unavailable" skips into failures (CI does).
library(testthat)
library(stcross)

test_check("stcross")
