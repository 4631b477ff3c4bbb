package anchor

// LockNewest is lockNewest, for the external tests.
var LockNewest = lockNewest
