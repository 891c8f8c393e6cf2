package scenario

var maxRate = Scenario{Name: "max-rate", run: func(e *Env) error { return nil }}
var lifecycle = Scenario{Name: "lifecycle", run: func(e *Env) error { return nil }}
var routing = Scenario{Name: "routing", run: func(e *Env) error { return nil }}
var backpressure = Scenario{Name: "backpressure", run: func(e *Env) error { return nil }}
var restart = Scenario{Name: "restart", run: func(e *Env) error { return nil }}
