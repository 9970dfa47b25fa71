package lifecycle

import (
	"errors"
	"fmt"
)

// Sentinel errors callers (and the CLI's exit codes) tell apart with errors.Is.
var (
	ErrNotFound   = errors.New("container does not exist")
	ErrExists     = errors.New("container already exists")
	ErrWrongState = errors.New("operation not allowed in this state")
	ErrInvalidID  = errors.New("invalid container id")

	// errDamagedState: state.json is there but not a state.
	errDamagedState = errors.New("damaged state")
)

// StateError says which operation a container's current state refused.
type StateError struct {
	Op     string
	Status Status
	// Hint, when set, replaces the generic message with one that says
	// what to do (in the words runc's users and tests know).
	Hint string
}

func (e *StateError) Error() string {
	if e.Hint != "" {
		return e.Hint
	}
	return fmt.Sprintf("cannot %s a %s container", e.Op, e.Status)
}

func (e *StateError) Unwrap() error { return ErrWrongState }

func refuse(op string, s Status) error { return &StateError{Op: op, Status: s} }
