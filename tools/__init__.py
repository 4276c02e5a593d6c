"""Pure helpers of `payment_plan`: no import from the ORM, tested with plain pytest."""
