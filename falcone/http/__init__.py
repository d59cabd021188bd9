"""HTTP pieces both services share: RFC 9457 problems, correlation ids, body limits."""
