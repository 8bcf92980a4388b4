"""The sip engine's media side: pjsua2 worker processes and the control protocol that drives them."""
