-- filter trace_id = "41f27cc6f3875d0468255aaf95e94627"
SELECT v1 AS r0, v2 AS r1, v4 AS h0, v5 AS h1, v6 AS h2, v7 AS h3, v8 AS h4, v9 AS h5 FROM (SELECT ts AS v1, msg AS v2, shape AS v4, ts AS v5, c1 AS v6, c2 AS v7, c3 AS v8, c6 AS v9 FROM g1 WHERE ts >= 1000 AND ts < 2000 AND (c6 = '41f27cc6f3875d0468255aaf95e94627'::UUID)) AS q ORDER BY v1 DESC LIMIT 10000
