-- Version 9: operators acknowledge and shelve anomalies (who, why, until when); the status of each.
-- Frozen: never edited once released; a change to the schema is a new version.

CREATE TABLE anomaly_acknowledgements (
    anomaly_id TEXT NOT NULL,
    action TEXT NOT NULL,
    at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    by_whom TEXT NOT NULL,
    reason TEXT NOT NULL,
    shelved_until TIMESTAMP WITH TIME ZONE,
    CONSTRAINT anomaly_acknowledgements_pkey PRIMARY KEY (anomaly_id, at),
    CONSTRAINT anomaly_acknowledgements_action CHECK (action IN ('acknowledged', 'shelved', 'unshelved')),
    CONSTRAINT anomaly_acknowledgements_until CHECK ((action = 'shelved') = (shelved_until IS NOT NULL))
);

COMMENT ON TABLE anomaly_acknowledgements IS 'Operators'' acknowledgements and shelving of anomalies (twin anomalies ack|shelve|unshelve), kept whole';

COMMENT ON COLUMN anomaly_acknowledgements.by_whom IS 'the operator who acted';

COMMENT ON COLUMN anomaly_acknowledgements.reason IS 'why, in the operator''s words';

COMMENT ON COLUMN anomaly_acknowledgements.shelved_until IS 'a shelved anomaly pages nobody until then';

-- Every anomaly with its latest acknowledgement: acknowledged (someone has seen it), shelved
-- (alerts on it suppressed until shelved_until).
CREATE VIEW anomaly_status AS
SELECT h.anomaly_id, h.sat_id, h.rule, h.severity, h.opened_at, h.closed_at, h.worst_value,
       k.action AS last_action, k.at AS action_at, k.by_whom, k.reason, k.shelved_until,
       coalesce(k.action IN ('acknowledged', 'shelved'), false) AS acknowledged,
       coalesce(k.action = 'shelved' AND k.shelved_until > now(), false) AS shelved
FROM audit_anomaly_history h
LEFT JOIN LATERAL (
    SELECT a.action, a.at, a.by_whom, a.reason, a.shelved_until FROM anomaly_acknowledgements a
    WHERE a.anomaly_id = h.anomaly_id ORDER BY a.at DESC LIMIT 1
) k ON true;

COMMENT ON VIEW anomaly_status IS 'Each anomaly with its latest acknowledgement or shelving';

GRANT SELECT ON anomaly_acknowledgements, anomaly_status TO "twin_reader";
