package scenario

// bothSides runs case i on both pipelines and returns tracebound's side and
// the baseline's. Which pipeline runs first alternates with i, so drift over
// the run (heat, other work on the machine) does not favour one of them.
func bothSides[S any](i int, run func(pipeline string) (S, error)) (tb, bl S, err error) {
	first, second := &tb, &bl
	order := [2]string{Tracebound, Baseline}
	if i%2 == 1 {
		first, second = second, first
		order = [2]string{Baseline, Tracebound}
	}
	if *first, err = run(order[0]); err != nil {
		return tb, bl, err
	}
	*second, err = run(order[1])
	return tb, bl, err
}
