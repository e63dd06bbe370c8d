-- filter @message like "POST /checkout" | stats count(*)
SELECT v3 AS r0 FROM (SELECT count(*) AS v3 FROM (SELECT 1 AS v0 FROM g1 WHERE ts >= 1000 AND ts < 2000 AND COALESCE(((msg IS NOT NULL AND contains(msg, 'POST /checkout')) OR contains(c2, 'POST /checkout') OR contains(c7, 'POST /checkout') OR contains(c9, 'POST /checkout')), FALSE)) AS s0) AS q LIMIT 10000
