// Package nsenter holds the C constructor that enters and creates the
// container's namespaces before the Go runtime starts (see nsenter.c).
// Importing it for side effects is all a binary needs to do.
package nsenter

/*
#cgo CFLAGS: -Wall -Wextra -Werror -Wno-unused-parameter
*/
import "C"
