// Package web is the HTTP face of the server and the only package that imports
// echo: the JSON API, the HTML pages (storefront, invoice, ledger explorer,
// operator dashboard) and the middleware.
//
// Handlers are methods on *Server that return errors to one error handler.
// A client-fixable error is an *Error with an HTTP status, a stable
// machine-readable code and a sentence saying what to change; anything else is
// logged and answered as 500 "internal error" without detail. Domain packages
// do not know HTTP: their errors carry a code (a Code() string method), and
// the table in errors.go maps each code to a status in one place.
//
// Every route is registered in one function, routes in routes.go, grouped
// by who may call it: the public, customers, relays, webhooks, operators,
// and `licensed dev` only.
package web
