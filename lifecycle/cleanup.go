package lifecycle

// cleanups is a stack of undo steps: each step of create that leaves
// something behind (a dir, a cgroup, a process) pushes how to undo it,
// and a failed create runs them newest first, leaving nothing.
type cleanups []func()

func (c *cleanups) push(f func()) { *c = append(*c, f) }

func (c *cleanups) run() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
	*c = nil
}

// release forgets the steps once create has succeeded.
func (c *cleanups) release() { *c = nil }
