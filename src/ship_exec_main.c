/* keelan-ship-exec: see ship_exec.c. */
int keelan_ship_exec(int argc, char** argv);

int main(int argc, char** argv) { return keelan_ship_exec(argc, argv); }
