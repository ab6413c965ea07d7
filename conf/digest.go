package conf

import (
	"crypto/sha256"
	"encoding/hex"
)

// digest is the fingerprint nodes compare to find configs that differ.
func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
