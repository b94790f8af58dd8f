package stripe_test

import (
	"testing"

	"github.com/billingd/billingd/internal/stripe/stripetest"
)

func TestMain(m *testing.M) { stripetest.Main(m) }
