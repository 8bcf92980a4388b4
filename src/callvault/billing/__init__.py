"""Rating and billing: tariffs, rated call legs, monthly invoices, cost and margin."""
