// The gateway the suites talk to: clients/testdata/gateway.yaml, started by
// clients/test.sh, which sets SWITCHBOARD_ADDR and SWITCHBOARD_API_KEY.
const addr = process.env.SWITCHBOARD_ADDR;
const key = process.env.SWITCHBOARD_API_KEY;
if (!addr || !key) {
  throw new Error(
    "SWITCHBOARD_ADDR and SWITCHBOARD_API_KEY must name a gateway running clients/testdata/gateway.yaml; " +
      "clients/test.sh starts one and runs these tests",
  );
}
export const baseUrl = `http://${addr}`;
export const apiKey: string = key;
