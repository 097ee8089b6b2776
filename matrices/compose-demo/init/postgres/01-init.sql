-- Bind-mounted read-only into PostgreSQL and run by its entrypoint at first start.
CREATE TABLE compose_demo_init (created_by text);
INSERT INTO compose_demo_init VALUES ('init script');
