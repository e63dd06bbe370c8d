-- fields route, status | sort status desc | dedup route | limit 5
SELECT v2 AS r0, v3 AS r1 FROM (SELECT * FROM (SELECT ts AS v1, c2 AS v2, COALESCE(CAST(c3 AS VARCHAR), c9) AS v3 FROM g1 WHERE ts >= 1000 AND ts < 2000) AS s0 QUALIFY row_number() OVER (PARTITION BY v2 ORDER BY v3 DESC NULLS LAST, v1 DESC) = 1 OR v2 IS NULL) AS q ORDER BY v3 DESC NULLS LAST, v1 DESC LIMIT 5
