DROP TABLE settings;
DROP TABLE surveys;
