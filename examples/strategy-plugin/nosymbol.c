/* nosymbol.c - a shared object that forgot the entry point: heed must say
 * so in one line (tests use it). */
int heed_example_unrelated(void);
int heed_example_unrelated(void) { return 42; }
