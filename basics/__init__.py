"""The floor below every layer: helpers that connectors/, transforms/ and flows/ all need and that know
nothing of either system's protocol or of the business. It imports nothing of the product."""
