"""The ground floor: simulation time, counter-based random numbers, the error tree, connection
settings and the stop signal. Imports nothing of the project."""
