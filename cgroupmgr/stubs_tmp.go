package cgroupmgr

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

type Stats struct{}

func (m *manager) Set(r *specs.LinuxResources) error { return fmt.Errorf("Set: %w", ErrNotSupported) }
func (m *manager) Stats() (*Stats, error)            { return nil, fmt.Errorf("Stats: %w", ErrNotSupported) }
func (m *manager) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	return nil, fmt.Errorf("OOMEvents: %w", ErrNotSupported)
}
