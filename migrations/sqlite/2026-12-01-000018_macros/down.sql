DROP TABLE macros;
