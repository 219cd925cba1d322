"""Physics of the whole fleet as arrays: SGP4 orbits, the Sun and the Earth's shadow, power,
thermal, laser links and the platform state's tick step."""
