package console_test

import "github.com/kiln-iot/kiln/console/consoletest"

var consoleAggregate = consoletest.Aggregate
