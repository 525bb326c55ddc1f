/* The C drivers' one check: a failed condition prints its line and counts;
   main() ends with report(). */
#include <stdio.h>

static int failures;

#define EXPECT(cond)                                                          \
    do {                                                                      \
        if (!(cond)) {                                                        \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
            failures++;                                                       \
        }                                                                     \
    } while (0)

/* The last line the tests read: "ok: 0 failure(s)"; exit status 1 on any. */
static int report(void)
{
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "ok", failures);
    return failures != 0;
}
