"""AWS RAM resource shares of response plans and contacts, and the access they grant."""
