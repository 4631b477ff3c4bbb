package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/licensed/licensed/payments"
)

type planJSON struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Price        int64  `json:"price"`
	Currency     string `json:"currency"`
	DurationDays int    `json:"duration_days"`
	DailyQuota   uint32 `json:"daily_quota"`
}

func (s *Server) listPlans(c echo.Context) error {
	var out []planJSON
	for _, p := range s.deps.Payments.Plans().List() {
		out = append(out, planJSON(p))
	}
	return c.JSON(http.StatusOK, map[string]any{"plans": out, "methods": s.deps.Payments.Methods()})
}

type createOrderRequest struct {
	Plan    string `json:"plan"`
	Address string `json:"address"`
	Method  string `json:"method"`
}

// createOrder is POST /v1/orders {plan, address, method}. It answers 201 with
// {order_id, status, …what the method needs the customer to do}.
func (s *Server) createOrder(c echo.Context) error {
	var req createOrderRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Method == "" {
		return Errorf(http.StatusBadRequest, "method_missing", "Say how you want to pay: \"method\" is \"card\" or \"btc\".")
	}
	if req.Plan == "" {
		return Errorf(http.StatusBadRequest, "plan_missing", "Say which plan you buy: \"plan\" is one of the ids listed at /v1/plans.")
	}
	o, pay, err := s.deps.Payments.CreateOrder(c.Request().Context(), req.Plan, req.Address, req.Method)
	if err != nil {
		return err
	}
	out := map[string]any{}
	for k, v := range pay {
		out[k] = v
	}
	out["order_id"] = o.ID
	out["status"] = o.State
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, out)
}

// orderJSON is the public view of an order: the id is the only credential,
// and the answer holds nothing that names the customer (the address is not
// returned even while it is stored).
type orderJSON struct {
	OrderID   string     `json:"order_id"`
	Plan      string     `json:"plan"`
	Method    string     `json:"method"`
	Amount    int64      `json:"amount"`
	Currency  string     `json:"currency"`
	Status    string     `json:"status"`
	Flags     []string   `json:"flags"`
	License   string     `json:"license,omitempty"`
	Minted    bool       `json:"minted"`
	CreatedAt time.Time  `json:"created_at"`
	SettledAt *time.Time `json:"settled_at,omitempty"`
}

func orderView(o *payments.Order) orderJSON {
	v := orderJSON{OrderID: o.ID, Plan: o.Plan, Method: o.Method, Amount: o.Amount, Currency: o.Currency,
		Status: string(o.State), Flags: o.Flags.Names(), License: string(o.License), Minted: o.Minted(),
		CreatedAt: o.CreatedAt.UTC()}
	if !o.SettledAt.IsZero() {
		t := o.SettledAt.UTC()
		v.SettledAt = &t
	}
	return v
}

func (s *Server) getOrder(c echo.Context) error {
	o, err := s.deps.Payments.Order(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, orderView(o))
}

// decodeJSON reads the request body as exactly one JSON object into v, as
// the admission endpoints do: Content-Type application/json, no unknown
// fields, nothing after the object. A form post or a typo in a field name
// is an error that says so, not an empty field.
func decodeJSON(c echo.Context, v any) error {
	ct := c.Request().Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
		return Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Send the request body as JSON with Content-Type: application/json.")
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return Errorf(http.StatusBadRequest, "malformed", fmt.Sprintf("The body is not valid JSON (at byte %d).", syn.Offset))
		case errors.As(err, &typ):
			return Errorf(http.StatusBadRequest, "malformed", fmt.Sprintf("The field %q must be a %s.", typ.Field, typ.Type.Kind()))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return Errorf(http.StatusBadRequest, "unknown_field", fmt.Sprintf("The body has the field %s, which this endpoint does not take: check its spelling.", strings.TrimPrefix(err.Error(), "json: unknown field ")))
		}
		return Errorf(http.StatusBadRequest, "malformed", "Send one JSON object as the body.")
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, "malformed", "Send exactly one JSON object: there is more after it.")
	}
	var rest json.RawMessage
	if err := dec.Decode(&rest); err != io.EOF {
		return Errorf(http.StatusBadRequest, "malformed", "Send exactly one JSON object: there is more after it.")
	}
	return nil
}
