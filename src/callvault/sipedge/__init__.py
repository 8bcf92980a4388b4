"""The SIP edge: institutions' trunks and DIDs, agents' SIP endpoints, and the Kamailio front that uses them."""
