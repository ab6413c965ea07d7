package crm

import (
	"errors"

	"hbgo/conf"
)

// quorum is the raft-backed placement of quorum mode.
type quorum struct{}

func startQuorum(n *Node, key conf.AuthKey) (*quorum, error) {
	return nil, errors.New("quorum mode (three or more voters) is not in this build yet")
}

func (q *quorum) decide()                                      {}
func (q *quorum) submitRequest(kind RequestKind, s Scope)      {}
func (q *quorum) hasQuorum() bool                              { return false }
func (q *quorum) status() RaftStatus                           { return RaftStatus{} }
func (q *quorum) assigned(group string) (string, uint64, bool) { return "", 0, false }
func (q *quorum) stop() error                                  { return nil }
