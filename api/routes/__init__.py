"""One router per resource; routes only do HTTP (parse, call the repository or a service,
wrap the result in a wire model)."""
