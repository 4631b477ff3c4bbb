package walletsig

import "golang.org/x/crypto/argon2"

func argon2IDKey(password, salt []byte) []byte {
	return argon2.IDKey(password, salt, 3, 64*1024, 4, 32)
}
