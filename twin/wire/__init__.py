"""Wire formats: the JSON envelope and the codecs of the telemetry, events and jobs topics.
Pure data in, bytes out (and back); no service, no physics."""
