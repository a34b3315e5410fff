package heraldotel_test

import (
	"errors"
	"testing"

	"github.com/heraldmq/herald"
	heraldotel "github.com/heraldmq/herald/otel"
)

// A nil option is bad input, as in herald: New returns an error wrapping
// herald.ErrInvalid rather than panicking.
func TestNewNilOption(t *testing.T) {
	tel, err := heraldotel.New(nil)
	if tel != nil || !errors.Is(err, herald.ErrInvalid) || err.Error() != "heraldotel: herald: invalid argument: nil option" {
		t.Fatalf("New(nil) = %v, %v; want nil and an error wrapping herald.ErrInvalid", tel, err)
	}
}
